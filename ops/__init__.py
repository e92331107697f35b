"""``plumb``: one command-line tool for operators (click).

Every command works against the local stack (emulator variables in the environment, or
``.local/run/stack.json`` written by ``make run``) and, with the same flags, against a real
project through Application Default Credentials when no emulator is configured. ``--json`` on
every command prints one JSON document on stdout; exit codes: 0 done, 1 the operation failed or
found a problem (verification mismatch, unknown id), 2 bad arguments or a refused target
(``--project`` mismatch), 3 the target is unreachable or not configured.
"""
