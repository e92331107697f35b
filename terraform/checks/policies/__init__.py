"""Project checkov policies (--external-checks-dir terraform/checks/policies); what they share is
in plumb_policy.py (checkov puts this folder on sys.path before it loads each file)."""
