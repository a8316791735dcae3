# The session fixture that checks the emulator answers (started by scripts/test.sh).
from carveout_emulator.testing import emulator_running  # noqa: F401
