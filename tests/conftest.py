"""Shared test set-up."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The unit tests run many tiny tensor ops: intra-op threads only add overhead, and on a shared 2-core machine
    two spinning OpenMP threads per process slowed them down 20-100x (measured).  Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
