"""Project checkov policies (--external-checks-dir terraform/checks/policies); each file stands alone
(checkov loads them as loose modules, so helpers are repeated rather than imported)."""
