//! OCI seccomp profile (`linux.seccomp`) to classic BPF, and its installation.
