"""``python -m ops`` (what ``.venv/bin/plumb`` runs)."""

from ops.app import main

if __name__ == "__main__":
    main()
