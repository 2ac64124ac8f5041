import sys

from convnet.cli.main import main

sys.exit(main())
