/*
 * rusage.c - run a command and write its resource usage, like /usr/bin/time
 * but with microsecond CPU times (GNU time prints %U/%S with 10 ms resolution,
 * too coarse for CPU per request on short runs).
 *
 * Usage: rusage OUTFILE COMMAND [ARGS...]
 *   Runs COMMAND, waits for it with wait4() and writes one line to OUTFILE:
 *     wall=S user=S sys=S maxrss_kib=K vcsw=V ivcsw=I
 *   (wall clock from CLOCK_MONOTONIC around fork/wait; user, sys, maxrss and
 *   the voluntary and involuntary context switches of all its threads from the
 *   child's struct rusage). Exits with the command's status (128+N
 *   if it died of signal N; 127 if it could not be run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OUTFILE COMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	/* Let the child take TERM/INT; we only report. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		perror("rusage: fork");
		return 127;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage ru;
	pid_t r;
	while ((r = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	double wall = now_s() - t0;
	if (r < 0) {
		perror("rusage: wait4");
		return 127;
	}
	FILE *f = fopen(argv[1], "w");
	if (f) {
		fprintf(f, "wall=%.6f user=%.6f sys=%.6f maxrss_kib=%ld vcsw=%ld ivcsw=%ld\n", wall,
			(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
			(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
			ru.ru_nvcsw, ru.ru_nivcsw);
		fclose(f);
	} else {
		perror("rusage: cannot write OUTFILE");
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 127;
}
