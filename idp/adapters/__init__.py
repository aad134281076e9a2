"""Ports to the outside world, each with backends chosen by one setting."""
