"""The built-in swarm driver: stack deploy on a Docker Swarm, backup through a helper container."""
