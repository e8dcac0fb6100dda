import sys

from producers.synthetic.cli import main

sys.exit(main())
