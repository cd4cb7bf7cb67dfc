"""What people look at: the dashboard pages and badges, all read from run dirs (and, under the
bridge, from the job queue it hands in as a `Catalog`). Nothing here writes a run dir; the summary
card the pages show is drawn by `runner/pictures/card.py`. Nothing here imports the bridge."""
