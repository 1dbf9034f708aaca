/*
 * curl_hold.c - libcurl multi anchor for P3: holds N transfers open.
 *
 * Same request setup as curl_multi.c (TPT's request manager: one multi handle,
 * a fresh easy handle per request with TPT's options for a GET, the body
 * accumulated in a realloc'd buffer), but all N transfers are added at once
 * to a server that never answers (bench/anchors/hang_server.c), so they stay
 * in flight. CURLMOPT_MAX_HOST_CONNECTIONS is N (every transfer gets its own
 * connection, like ours with --max-host-connections N).
 *
 * Usage: curl_hold URL N
 *   N = 0 is the baseline: a multi handle with nothing in it.
 *
 * Prints "ready" once every handle was added and driven once, then keeps
 * driving the multi handle (curl_multi_poll / curl_multi_perform) until it is
 * killed. If any transfer ends (the server answered or closed), prints
 * "curl_hold error: ..." and exits 1. RSS is read from outside
 * (/proc/PID/status) by bench/run.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct request {
	CURL *easy;
	char *buf;
	size_t len;
	size_t cap;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct request *req = userdata;
	size_t n = size * nmemb;
	if (req->len + n > req->cap) {
		size_t cap = req->cap ? req->cap : 256;
		while (cap < req->len + n)
			cap *= 2;
		char *nb = realloc(req->buf, cap);
		if (!nb)
			return 0;
		req->buf = nb;
		req->cap = cap;
	}
	memcpy(req->buf + req->len, ptr, n);
	req->len += n;
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s URL N\n", argv[0]);
		return 2;
	}
	const char *url = argv[1];
	char *end;
	errno = 0;
	long n = strtol(argv[2], &end, 10);
	if (errno || end == argv[2] || *end || n < 0) {
		fprintf(stderr, "curl_hold: bad N: %s\n", argv[2]);
		return 2;
	}

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "curl_hold: curl_global_init failed\n");
		return 1;
	}
	CURLM *multi = curl_multi_init();
	if (!multi) {
		fprintf(stderr, "curl_hold: curl_multi_init failed\n");
		return 1;
	}
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);

	struct request *reqs = calloc(n ? (size_t)n : 1, sizeof *reqs);
	if (!reqs) {
		fprintf(stderr, "curl_hold: out of memory\n");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		struct request *req = &reqs[i];
		req->easy = curl_easy_init();
		if (!req->easy) {
			fprintf(stderr, "curl_hold: curl_easy_init failed\n");
			return 1;
		}
		curl_easy_setopt(req->easy, CURLOPT_URL, url);
		curl_easy_setopt(req->easy, CURLOPT_PRIVATE, (void *)req);
		curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, (void *)req);
		curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(req->easy, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(req->easy, CURLOPT_MAXREDIRS, 10L);
		curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "tpt-http-bench curl_hold anchor");
		curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
		if (curl_multi_add_handle(multi, req->easy) != CURLM_OK) {
			fprintf(stderr, "curl_hold: curl_multi_add_handle failed\n");
			return 1;
		}
	}

	int running = 0;
	if (curl_multi_perform(multi, &running) != CURLM_OK) {
		fprintf(stderr, "curl_hold: curl_multi_perform failed\n");
		return 1;
	}
	printf("ready requests=%ld\n", n);
	fflush(stdout);

	for (;;) {
		CURLMcode mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			fprintf(stderr, "curl_hold: curl_multi_poll: %s\n", curl_multi_strerror(mc));
			return 1;
		}
		mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK) {
			fprintf(stderr, "curl_hold: curl_multi_perform: %s\n", curl_multi_strerror(mc));
			return 1;
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg == CURLMSG_DONE) {
				printf("curl_hold error: a transfer ended: %s\n",
				       curl_easy_strerror(msg->data.result));
				fflush(stdout);
				return 1;
			}
		}
	}
}
