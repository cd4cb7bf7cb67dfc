"""What people look at: the dashboard pages, badges and the summary card, all read from run dirs
(and, under the bridge, from its job queue). Nothing here writes a run dir except the card."""
