"""The bridge's side of the forge (Gitea/Forgejo): what it sends us (webhook events and their
signature) and the client through which we ask it (PRs, comments, statuses, members)."""
