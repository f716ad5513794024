import sys

from psmarl.cli import main

sys.exit(main())
