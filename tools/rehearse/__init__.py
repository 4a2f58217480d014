"""Deployment rehearsal (`make rehearse`): each Lambda's code under its own template's
network, IAM, environment and time limits. See tools/rehearse/rehearsal.py."""
