/*
 * husk-dmz: the exec trampoline (spawn/src/dmz.rs says why). husk's child runs this from a sealed
 * memfd with
 *
 *     argv = { FD, PREFIX, SUFFIX, PATH, ARG0, ARG1, ... }
 *
 * and it execs PATH with ARG0... and its own environment. FD is the runtime's sync socket: made
 * close-on-exec here, so the runtime reads EOF once PATH runs; if execve fails, FD gets
 * PREFIX, the errno in decimal, SUFFIX (the runtime's error message) and this exits 1, as husk's
 * child does after a report. Run any other way (say as /proc/self/exe), it exits 1 at once.
 *
 * No libc: raw system calls, no data relocations, a few hundred bytes of code.
 */

#if defined(__x86_64__)
#define NR_WRITEV 20
#define NR_PRCTL 157
#define NR_CLOSE 3
#define NR_FCNTL 72
#define NR_EXECVE 59
#define NR_EXIT_GROUP 231

static long sys3(long n, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
}

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call dmz_main\n"
	"	hlt\n");
#elif defined(__aarch64__)
#define NR_WRITEV 66
#define NR_PRCTL 167
#define NR_CLOSE 57
#define NR_FCNTL 25
#define NR_EXECVE 221
#define NR_EXIT_GROUP 94

static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl dmz_main\n");
#else
#error "husk-dmz: no system call stubs for this architecture"
#endif

#define PR_SET_DUMPABLE 4
#define F_SETFD 2
#define FD_CLOEXEC 1

struct iovec {
	const char *base;
	unsigned long len;
};

static unsigned long length(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

__attribute__((noreturn)) static void leave(void)
{
	for (;;)
		sys3(NR_EXIT_GROUP, 1, 0, 0);
}

__attribute__((noreturn, used)) void dmz_main(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	long fd = 0;
	char digits[20];
	int n = sizeof(digits);

	/* execve made this process dumpable again: until it execs the container's process, no other
	 * process of the container may open its fds (the sync socket) through /proc. */
	sys3(NR_PRCTL, PR_SET_DUMPABLE, 0, 0);
	if (argc < 5)
		leave();
	for (const char *p = argv[0]; *p >= '0' && *p <= '9'; p++)
		fd = fd * 10 + (*p - '0');
	/* A seccomp profile that refuses fcntl: close FD, or the runtime would wait for an EOF
	 * that only the container's exit brings; an exec error then goes unreported. */
	if (sys3(NR_FCNTL, fd, F_SETFD, FD_CLOEXEC) < 0) {
		sys3(NR_CLOSE, fd, 0, 0);
		fd = -1;
	}
	long err = -sys3(NR_EXECVE, (long)argv[3], (long)(argv + 4), (long)envp);
	do {
		digits[--n] = (char)('0' + err % 10);
		err /= 10;
	} while (err > 0 && n > 0);
	struct iovec message[3] = {
		{ argv[1], length(argv[1]) },
		{ digits + n, (unsigned long)(sizeof(digits) - n) },
		{ argv[2], length(argv[2]) },
	};
	sys3(NR_WRITEV, fd, (long)message, 3);
	leave();
}
