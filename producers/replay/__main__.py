import sys

from producers.replay.cli import main

sys.exit(main())
