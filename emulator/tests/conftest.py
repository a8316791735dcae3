import pytest

from carveout_emulator.testing import ENDPOINT, post


@pytest.fixture(autouse=True, scope="session")
def emulator_running():
    try:
        post("/_carveout/config")
    except OSError as err:  # a setup problem, not a test result
        pytest.exit(f"the emulator does not answer on {ENDPOINT} ({err}); run tests with `make test`", 2)
