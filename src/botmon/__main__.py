"""``python -m botmon`` runs the ``botmon`` command (used to start child processes)."""

from botmon.cli.main import main

if __name__ == "__main__":
    main()
