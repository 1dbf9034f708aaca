/*
 * hang_server.c - a TCP server on 127.0.0.1 that accepts connections and
 * never reads from them nor answers: every request sent to it stays
 * "running" on the client side. Used by P2 (status() over many running
 * requests) and P3 (memory per request held open).
 *
 * Usage: hang_server PORTFILE COUNTFILE [MAX_SECONDS]
 *   Binds 127.0.0.1 on a free port and writes the port number to PORTFILE.
 *   Keeps every accepted connection open (unread: closing them at exit makes
 *   the kernel send RST, so no client port lingers in TIME_WAIT) and writes the
 *   number accepted so far to COUNTFILE whenever it changes (via a rename, so a
 *   reader never sees a partial number).
 *   Exits on SIGTERM/SIGINT, or after MAX_SECONDS (default 600) as a safety net.
 *
 * The listen backlog asks for 65535 (the kernel caps it at net.core.somaxconn)
 * and RLIMIT_NOFILE is raised to its hard limit; accept() failing with
 * EMFILE/ENFILE is reported once on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int write_file(const char *path, long value)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", value);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s PORTFILE COUNTFILE [MAX_SECONDS]\n", argv[0]);
		return 2;
	}
	long max_seconds = argc == 4 ? strtol(argv[3], NULL, 10) : 600;
	if (max_seconds <= 0)
		max_seconds = 600;

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("hang_server: socket");
		return 1;
	}
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("hang_server: bind");
		return 1;
	}
	if (listen(lfd, 65535) != 0) {
		perror("hang_server: listen");
		return 1;
	}
	socklen_t alen = sizeof addr;
	if (getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
		perror("hang_server: getsockname");
		return 1;
	}
	long accepted = 0, written = -1;
	if (write_file(argv[2], 0) != 0 || write_file(argv[1], ntohs(addr.sin_port)) != 0) {
		perror("hang_server: cannot write PORTFILE/COUNTFILE");
		return 1;
	}
	written = 0;

	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int warned = 0;
	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > max_seconds) {
			fprintf(stderr, "hang_server: %ld s elapsed, exiting\n", max_seconds);
			break;
		}
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int r = poll(&p, 1, 200);
		if (r < 0 && errno != EINTR) {
			perror("hang_server: poll");
			return 1;
		}
		for (;;) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EMFILE || errno == ENFILE) {
					if (!warned)
						fprintf(stderr, "hang_server: out of file descriptors after %ld connections\n",
							accepted);
					warned = 1;
					usleep(100000);
				}
				break;
			}
			/* Keep fd open and never touch it again. */
			accepted++;
		}
		if (accepted != written) {
			if (write_file(argv[2], accepted) == 0)
				written = accepted;
		}
	}
	return 0;
}
