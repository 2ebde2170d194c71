// hack/bench/driver: the measuring half of hack/bench/run.
//
// usage: driver [-j N] [-t SECONDS] LOG < PLAN
//
// PLAN has one command per line, fields separated by tabs (empty fields are skipped): LABEL,
// then any NAME=VALUE environment assignments, then the argv (looked up in PATH). Consecutive
// lines with the same LABEL form one job: their commands run one after the other. Up to N jobs
// (default 1) run at the same time. With -j 1 a line may instead be
// "LABEL<TAB>@reap<TAB>PIDFILE": wait (untimed) until the process whose pid PIDFILE holds has
// exited, reaping it if it is our child.
//
// Every command's stdin is /dev/null and its stdout and stderr are appended to LOG. The driver is
// a child subreaper (PR_SET_CHILD_SUBREAPER, prctl(2)): a container whose runtime exited after
// `create` is re-parented to it, so @reap can wait for it the ordinary way.
//
// For each command it prints "LABEL<TAB>WALL_NS<TAB>MAXRSS_KB<TAB>STATUS<TAB>CPU_NS<TAB>MINFLT": the
// CLOCK_MONOTONIC time from just before the spawn to the return of the wait4(2) that reaped it,
// the ru_maxrss that wait4 reported (the peak RSS of the command's process, or of any descendant
// it waited for if larger), its exit code (128+N when killed by signal N; with -j 1, 124 when
// killed after SECONDS, default 60), its user+system CPU time and its minor page faults (both with
// the descendants it waited for). At the end it prints "#total<TAB>WALL_NS" for the whole plan.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct command {
	char *label;
	char **argv; // NULL-terminated; argv[0] == "@reap" for a reap line
	char **envp; // environ plus the line's assignments, NULL-terminated
};

static void die(const char *what)
{
	fprintf(stderr, "hack/bench/driver: %s: %s\n", what, strerror(errno));
	exit(2);
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int is_assignment(const char *field)
{
	const char *eq = strchr(field, '=');
	return eq != NULL && eq != field && field[0] != '/' && field[0] != '-';
}

static struct command parse_line(char *line)
{
	struct command c;
	size_t nfields = 1, nenv = 0, i;
	char *field, *save;

	line[strcspn(line, "\n")] = '\0';
	for (char *p = line; *p; p++)
		nfields += *p == '\t';
	for (char **e = environ; *e; e++)
		nenv++;
	c.argv = calloc(nfields + 1, sizeof(char *));
	c.envp = calloc(nenv + nfields + 1, sizeof(char *));
	if (c.argv == NULL || c.envp == NULL)
		die("calloc");
	memcpy(c.envp, environ, nenv * sizeof(char *));
	c.label = strtok_r(line, "\t", &save);
	i = 0;
	while ((field = strtok_r(NULL, "\t", &save)) != NULL) {
		if (i == 0 && is_assignment(field))
			c.envp[nenv++] = field;
		else
			c.argv[i++] = field;
	}
	if (c.label == NULL || i == 0) {
		fprintf(stderr, "hack/bench/driver: plan line without a command: %s\n", line);
		exit(2);
	}
	return c;
}

static pid_t spawn(const struct command *c, int log_fd)
{
	posix_spawn_file_actions_t actions;
	pid_t pid;
	int err;

	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
	posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
	err = posix_spawnp(&pid, c->argv[0], &actions, NULL, c->argv, c->envp);
	posix_spawn_file_actions_destroy(&actions);
	if (err != 0) {
		errno = err;
		die(c->argv[0]);
	}
	return pid;
}

// Waits for our child pid for at most timeout_s seconds, then kills it.
static int wait_child(pid_t pid, int timeout_s, struct rusage *ru)
{
	int status, pidfd, timed_out = 0;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_s * 1000) == 0) {
			kill(pid, SIGKILL);
			timed_out = 1;
		}
		close(pidfd);
	} else if (errno != ESRCH) { // ESRCH: it has exited already
		die("pidfd_open");
	}
	if (wait4(pid, &status, 0, ru) < 0)
		die("wait4");
	return timed_out ? 124 : exit_code(status);
}

// @reap PIDFILE: the process may be our child (re-parented to us) or, when the runtime keeps a
// parent of its own around, someone else's; then poll until it is gone.
static int reap(const char *pidfile, int timeout_s)
{
	FILE *f = fopen(pidfile, "r");
	long pid = 0;
	long long deadline = now_ns() + timeout_s * 1000000000LL;
	struct rusage ru;
	siginfo_t info;

	if (f != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid <= 0) {
		fprintf(stderr, "hack/bench/driver: no pid in %s\n", pidfile);
		return 2;
	}
	// WNOWAIT: only asks whether it is our child, leaving it to wait_child (waitid(2)).
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0)
		return wait_child((pid_t)pid, timeout_s, &ru) == 124 ? 124 : 0;
	while (kill((pid_t)pid, 0) == 0) {
		if (now_ns() > deadline)
			return 124;
		usleep(200);
	}
	return 0;
}

static long long cpu_ns(const struct rusage *ru)
{
	return (ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000LL +
	       (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000LL;
}

static void report(const struct command *c, long long wall_ns, const struct rusage *ru, int code)
{
	printf("%s\t%lld\t%ld\t%d\t%lld\t%ld\n", c->label, wall_ns, ru->ru_maxrss, code, cpu_ns(ru),
	       ru->ru_minflt);
}

static void run_sequential(struct command *plan, size_t n, int log_fd, int timeout_s)
{
	for (size_t i = 0; i < n; i++) {
		struct rusage ru = {0};
		if (strcmp(plan[i].argv[0], "@reap") == 0) {
			int code = reap(plan[i].argv[1], timeout_s);
			report(&plan[i], 0, &ru, code);
			continue;
		}
		long long start = now_ns();
		pid_t pid = spawn(&plan[i], log_fd);
		int code = wait_child(pid, timeout_s, &ru);
		report(&plan[i], now_ns() - start, &ru, code);
	}
}

// Jobs (runs of lines with one label) on `workers` slots; a slot starts the job's next command
// as soon as the previous one is reaped. Reaped pids we did not spawn (orphans re-parented to
// us) are ignored.
static void run_parallel(struct command *plan, size_t n, int log_fd, int workers)
{
	pid_t *slot_pid = calloc(workers, sizeof(pid_t));
	size_t *slot_line = calloc(workers, sizeof(size_t));
	long long *slot_start = calloc(workers, sizeof(long long));
	size_t next = 0;
	int running = 0;

	if (slot_pid == NULL || slot_line == NULL || slot_start == NULL)
		die("calloc");
	for (int s = 0; s < workers && next < n; s++) {
		slot_line[s] = next;
		slot_start[s] = now_ns();
		slot_pid[s] = spawn(&plan[next], log_fd);
		running++;
		// skip to the next job
		while (++next < n && strcmp(plan[next].label, plan[next - 1].label) == 0)
			;
	}
	while (running > 0) {
		int status, s;
		struct rusage ru;
		pid_t pid = wait4(-1, &status, 0, &ru);
		if (pid < 0)
			die("wait4");
		for (s = 0; s < workers && slot_pid[s] != pid; s++)
			;
		if (s == workers)
			continue;
		size_t line = slot_line[s];
		report(&plan[line], now_ns() - slot_start[s], &ru, exit_code(status));
		running--;
		slot_pid[s] = 0;
		if (line + 1 < n && strcmp(plan[line + 1].label, plan[line].label) == 0) {
			line++; // the job's next command
		} else if (next < n) {
			line = next;
			while (++next < n && strcmp(plan[next].label, plan[next - 1].label) == 0)
				;
		} else {
			continue;
		}
		slot_line[s] = line;
		slot_start[s] = now_ns();
		slot_pid[s] = spawn(&plan[line], log_fd);
		running++;
	}
}

int main(int argc, char **argv)
{
	int workers = 1, timeout_s = 60, opt, log_fd;
	struct command *plan = NULL;
	size_t n = 0, cap = 0, len = 0;
	char *line = NULL;

	while ((opt = getopt(argc, argv, "j:t:")) != -1) {
		if (opt == 'j')
			workers = atoi(optarg);
		else if (opt == 't')
			timeout_s = atoi(optarg);
		else
			optind = argc + 1;
	}
	if (optind != argc - 1 || workers < 1 || timeout_s < 1) {
		fprintf(stderr, "usage: driver [-j N] [-t SECONDS] LOG < PLAN\n");
		return 2;
	}
	log_fd = open(argv[optind], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		die(argv[optind]);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		die("PR_SET_CHILD_SUBREAPER");

	while (getline(&line, &len, stdin) > 0) {
		if (line[0] == '\n')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			plan = realloc(plan, cap * sizeof(*plan));
			if (plan == NULL)
				die("realloc");
		}
		plan[n] = parse_line(line);
		if (workers > 1 && strcmp(plan[n].argv[0], "@reap") == 0) {
			fprintf(stderr, "hack/bench/driver: @reap needs -j 1\n");
			return 2;
		}
		n++;
		line = NULL; // the command keeps pointers into it
		len = 0;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	long long start = now_ns();
	if (workers == 1)
		run_sequential(plan, n, log_fd, timeout_s);
	else
		run_parallel(plan, n, log_fd, workers);
	printf("#total\t%lld\n", now_ns() - start);
	return 0;
}
