import sys

from selfdrive.cli import main

sys.exit(main())
