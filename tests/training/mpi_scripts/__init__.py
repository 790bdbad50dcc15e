"""Scripts that tests/test_spmd.py starts on several processes with mpiexec."""
