import sys

from rewards.score import main

sys.exit(main())
