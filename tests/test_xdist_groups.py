"""`make test` runs a module's tests, and the localhost clusters, in one pytest-xdist
process (tests/conftest.py): the group must reach pytest-xdist's scheduler."""

import os

import pytest


def _under_loadgroup(config) -> bool:
    return bool(os.environ.get("PYTEST_XDIST_WORKER")) and config.getvalue("loadgroup")


def test_a_test_carries_its_modules_group_to_the_scheduler(request):
    # pytest-xdist's --dist loadgroup appends "@group" to the test's id in the
    # worker, and its scheduler groups on that suffix; a pytest that ignores the
    # rewrite (9.2 with pytest-xdist 3.8) silently runs every test on its own.
    if not _under_loadgroup(request.config):
        pytest.skip("not run by pytest-xdist with --dist loadgroup (make test runs it so)")
    assert request.node.nodeid.endswith("@test_xdist_groups"), request.node.nodeid


@pytest.mark.localhost_cluster
def test_a_localhost_cluster_test_is_in_the_cluster_group(request):
    if not _under_loadgroup(request.config):
        pytest.skip("not run by pytest-xdist with --dist loadgroup (make test runs it so)")
    assert request.node.nodeid.endswith("@localhost_cluster"), request.node.nodeid
