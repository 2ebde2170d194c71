// qb-tool: the small helpers hack/qos-bench/run needs inside the VM and its containers.
//   qb-tool resident FILE   print "RESIDENT_PAGES TOTAL_PAGES" of FILE's page cache (mincore(2);
//                           mincore never faults a page in, so measuring does not change the figure)
//   qb-tool alloc MIB       allocate and touch MIB MiB of anonymous memory 1 MiB at a time,
//                           printing "allocated N" every 8 MiB and "held N" at the end, then sleep
// Built static on the host so it runs in a busybox rootfs.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int resident(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		perror("fstat");
		return 1;
	}
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (st.st_size + page - 1) / page;
	void *map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	unsigned char *vec = malloc(pages);
	if (!vec || mincore(map, st.st_size, vec) < 0) {
		perror("mincore");
		return 1;
	}
	size_t in = 0;
	for (size_t i = 0; i < pages; i++)
		in += vec[i] & 1;
	printf("%zu %zu\n", in, pages);
	return 0;
}

static int alloc(long mib)
{
	const size_t chunk = 1 << 20;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (long i = 1; i <= mib; i++) {
		char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		memset(p, 0x5a, chunk);
		if (i % 8 == 0)
			printf("allocated %ld\n", i);
	}
	printf("held %ld\n", mib);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "resident") == 0)
		return resident(argv[2]);
	if (argc == 3 && strcmp(argv[1], "alloc") == 0)
		return alloc(atol(argv[2]));
	fprintf(stderr, "usage: qb-tool resident FILE | qb-tool alloc MIB\n");
	return 2;
}
