"""``python -m wsdat_core`` runs the ``wsdat`` command."""

import sys

from .faces.cli import main

sys.exit(main())
