"""Every command group, registered on the root group (imports stay lazy per command)."""

from __future__ import annotations

import click


def register(root: click.Group) -> None:
    from shared.cli.customers import customers
    from shared.cli.keys import keys
    from shared.cli.quotas import quotas
    from shared.cli.refresh import refresh
    from shared.cli.stack import stack_group
    from shared.cli.uploads import uploads
    from shared.cli.webhooks import webhooks

    for group in (customers, keys, quotas, refresh, stack_group, uploads, webhooks):
        if group.name not in root.commands:
            root.add_command(group)
