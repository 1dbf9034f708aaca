/*
 * curl_multi.c - libcurl multi anchor for the tpt-http benchmarks.
 *
 * Behaves like The Powder Toy's libcurl request manager: one multi handle,
 * CURLMOPT_MAX_HOST_CONNECTIONS set (TPT uses 6; here it defaults to K so
 * that K requests really are on the wire), connection reuse (keep-alive) through
 * the multi handle's connection cache, a fresh easy handle per request, the
 * response body accumulated in a growing realloc'd buffer, and a loop of
 * curl_multi_poll / curl_multi_perform / curl_multi_info_read.
 *
 * K requests are kept in flight; each completion starts the next request
 * until N have completed.
 *
 * Usage: curl_multi URL N K [max_host_conns]
 *   max_host_conns defaults to K; 0 means no limit (libcurl's default).
 *
 * Environment (for the HTTPS scenarios):
 *   CURL_MULTI_CAINFO=FILE  trust the CA certificates in FILE (CURLOPT_CAINFO)
 *   CURL_MULTI_HTTP=1.1     HTTP/1.1 only; =2: HTTP/2 over TLS (ALPN), as libcurl's default
 *   CURL_MULTI_FRESH=1      a new connection for every request (CURLOPT_FRESH_CONNECT and
 *                           CURLOPT_FORBID_REUSE): a full TLS handshake each time when the
 *                           server resumes no sessions
 *
 * Output (one line):
 *   curl_multi requests=N inflight=K seconds=S rps=R bytes=B user_cpu=U sys_cpu=Y
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct request {
	CURL *easy;
	char *buf;
	size_t len;
	size_t cap;
	int oom;
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
		if (!nb) {
			req->oom = 1;
			return 0; /* aborts the transfer */
		}
		req->buf = nb;
		req->cap = cap;
	}
	memcpy(req->buf + req->len, ptr, n);
	req->len += n;
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static long parse_num(const char *s, const char *what, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min) {
		fprintf(stderr, "curl_multi: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static int start_request(CURLM *multi, const char *url, struct request *req)
{
	req->easy = curl_easy_init();
	if (!req->easy)
		return -1;
	req->buf = NULL;
	req->len = 0;
	req->cap = 0;
	req->oom = 0;
	curl_easy_setopt(req->easy, CURLOPT_URL, url);
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, (void *)req);
	curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, (void *)req);
	/* The same per-request options TPT sets for a plain GET. */
	curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(req->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(req->easy, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "tpt-http-bench curl_multi anchor");
	curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
	const char *ca = getenv("CURL_MULTI_CAINFO");
	if (ca && *ca)
		curl_easy_setopt(req->easy, CURLOPT_CAINFO, ca);
	const char *ver = getenv("CURL_MULTI_HTTP");
	if (ver && strcmp(ver, "1.1") == 0)
		curl_easy_setopt(req->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	else if (ver && strcmp(ver, "2") == 0)
		curl_easy_setopt(req->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	const char *fresh = getenv("CURL_MULTI_FRESH");
	if (fresh && strcmp(fresh, "1") == 0) {
		curl_easy_setopt(req->easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(req->easy, CURLOPT_FORBID_REUSE, 1L);
	}
	if (curl_multi_add_handle(multi, req->easy) != CURLM_OK) {
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s URL N K [max_host_conns]\n", argv[0]);
		return 2;
	}
	const char *url = argv[1];
	long n = parse_num(argv[2], "N", 1);
	long k = parse_num(argv[3], "K", 1);
	long max_host = argc == 5 ? parse_num(argv[4], "max_host_conns", 0) : k;
	if (k > n)
		k = n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "curl_multi: curl_global_init failed\n");
		return 1;
	}
	CURLM *multi = curl_multi_init();
	if (!multi) {
		fprintf(stderr, "curl_multi: curl_multi_init failed\n");
		return 1;
	}
	/* TPT sets only this (to 6); the connection cache keeps its default
	 * size (4 x the number of added easy handles). */
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);

	struct request *slots = calloc((size_t)k, sizeof *slots);
	if (!slots) {
		fprintf(stderr, "curl_multi: out of memory\n");
		return 1;
	}

	long started = 0, done = 0, failed = 0;
	unsigned long long bytes = 0;
	double t0 = now_s();

	for (long i = 0; i < k; i++) {
		if (start_request(multi, url, &slots[i]) != 0) {
			fprintf(stderr, "curl_multi: could not start request\n");
			return 1;
		}
		started++;
	}

	while (done < n) {
		int running = 0;
		CURLMcode mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK) {
			fprintf(stderr, "curl_multi: curl_multi_perform: %s\n", curl_multi_strerror(mc));
			return 1;
		}
		CURLMsg *msg;
		int left;
		int completed_any = 0;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *easy = msg->easy_handle;
			CURLcode res = msg->data.result;
			struct request *req = NULL;
			long code = 0;
			curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
			if (res != CURLE_OK || code != 200 || req->oom) {
				if (failed < 5)
					fprintf(stderr, "curl_multi: request failed: %s, status %ld\n",
						curl_easy_strerror(res), code);
				failed++;
			}
			bytes += req->len;
			curl_multi_remove_handle(multi, easy);
			curl_easy_cleanup(easy);
			free(req->buf);
			req->buf = NULL;
			req->easy = NULL;
			done++;
			completed_any = 1;
			if (started < n) {
				if (start_request(multi, url, req) != 0) {
					fprintf(stderr, "curl_multi: could not start request\n");
					return 1;
				}
				started++;
			}
		}
		if (done >= n)
			break;
		/* New handles were added: drive them right away instead of waiting. */
		if (completed_any)
			continue;
		mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			fprintf(stderr, "curl_multi: curl_multi_poll: %s\n", curl_multi_strerror(mc));
			return 1;
		}
	}

	double secs = now_s() - t0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);

	curl_multi_cleanup(multi);
	free(slots);
	curl_global_cleanup();

	printf("curl_multi requests=%ld inflight=%ld seconds=%.6f rps=%.1f bytes=%llu user_cpu=%.3f sys_cpu=%.3f\n",
	       n, k, secs, (double)n / secs, bytes, tv_s(ru.ru_utime), tv_s(ru.ru_stime));
	if (failed) {
		fprintf(stderr, "curl_multi: %ld of %ld requests failed\n", failed, n);
		return 1;
	}
	return 0;
}
