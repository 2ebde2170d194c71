// hack/bench/floor ROOTFS: the least a runtime must do to run the benchmark bundle's /bin/true,
// timed like the runtimes to show how far each is from the limit.
//
// clone3 with the bundle's namespaces (pid, net, ipc, uts, mnt: `runc spec`'s defaults), then in
// the child: make the mount tree private, bind ROOTFS onto itself, mount proc in it, pivot_root
// into it, exec /bin/true; the parent waits. No cgroup, no /dev, no capabilities, no config.json.
#define _GNU_SOURCE
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *what)
{
	perror(what);
	_exit(127);
}

static void child(const char *rootfs)
{
	// pivot_root(2): the new root's parent mount must not be shared, and new_root must be a
	// mount point.
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		fail("make / private");
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) != 0)
		fail("bind rootfs");
	if (chdir(rootfs) != 0)
		fail("chdir rootfs");
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fail("mount proc");
	// pivot_root(".", ".") stacks the old root on top of the new one; detach it (pivot_root(2)).
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		fail("pivot_root");
	if (umount2(".", MNT_DETACH) != 0)
		fail("detach old root");
	execl("/bin/true", "/bin/true", (char *)NULL);
	fail("exec /bin/true");
}

int main(int argc, char **argv)
{
	struct clone_args args;
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: floor ROOTFS\n");
		return 2;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS;
	args.exit_signal = SIGCHLD;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		fail("clone3");
	if (pid == 0)
		child(argv[1]);
	if (waitpid((pid_t)pid, &status, 0) != pid)
		fail("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
