"""`python -m mlmd_core.grpc`: the same as the `mlmd-server` command."""

import sys

from mlmd_core.grpc.server import main

sys.exit(main())
