"""What the selftests share: paths, node containers, flawed nodes, PKI, dumps, runs of the suites."""
