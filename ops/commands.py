"""Every command group, registered on the root group (imports stay lazy per command)."""

from __future__ import annotations

import click


def register(root: click.Group) -> None:
    from ops.customers import customers
    from ops.keys import keys
    from ops.migrate import migrate
    from ops.quotas import quotas
    from ops.refresh import refresh
    from ops.stack import stack_group
    from ops.uploads import uploads
    from ops.warehouse import warehouse
    from ops.webhooks import webhooks

    for group in (
        customers,
        keys,
        migrate,
        quotas,
        refresh,
        stack_group,
        uploads,
        warehouse,
        webhooks,
    ):
        if group.name not in root.commands:
            root.add_command(group)
