"""``python -m shared.cli`` (what ``.venv/bin/plumb`` runs)."""

from shared.cli.app import main

if __name__ == "__main__":
    main()
