/*
 * The reference client: one request through libcurl, set up option by option as TPT v100.1
 * sets it up (src/client/http/requestmanager/Libcurl.cpp), reporting what a TPT script would
 * see: the status (HTTP, or TPT's 6xx for a CURLcode), the body, the header list as TPT's header
 * callback builds it, and progress as TPT reads it. Written for this harness from a reading of
 * TPT's source, not copied. Plain HTTP only (the harness serves loopback), so no TLS options.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* TPT's Config.h values. */
#define TPT_MAX_HOST_CONNECTIONS 1L
#define TPT_MAX_CONCURRENT_STREAMS 50L
#define TPT_CONNECT_TIMEOUT_S 15L
#define TPT_MAX_REDIRECTS 10L

struct tpt_buf {
    char *data;
    size_t len;
    size_t cap;
};

struct tpt_ref_result {
    /* The code a script sees: the HTTP status, or 600.. for a failed transfer. */
    long status;
    /* The body (empty on a failure, as TPT's Finish drops it). */
    struct tpt_buf body;
    /* The header list: for each, a 4-byte native length and the name, then the same for the value. */
    struct tpt_buf headers;
    /* progress() after the request is done: CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, CURLINFO_SIZE_DOWNLOAD_T. */
    long long total;
    long long done;
    /* The CURLcode and libcurl's error text. */
    int curl_code;
    char error[CURL_ERROR_SIZE];
};

/* One item of a form post, as TPT's FormItem (filename and type may be NULL). */
struct tpt_form_part {
    const char *name;
    const char *value;
    size_t value_len;
    const char *filename;
    const char *type;
};

struct tpt_handle {
    struct tpt_ref_result *res;
    struct tpt_buf data;
    int got_status_line;
    int got_all_headers;
    int failed_alloc;
};

static int buf_put(struct tpt_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

static int put_field(struct tpt_buf *b, const char *p, size_t n)
{
    unsigned int len = (unsigned int)n;
    return buf_put(b, &len, sizeof len) && buf_put(b, p, n);
}

/* TPT's HeaderDataHandler: only lines ending in CRLF are accepted (anything else makes libcurl
 * fail the transfer); a blank line ends a head, and a line after it starts the list anew (a
 * redirect's or a 1xx's head is forgotten); the status line is not listed; the rest is split at
 * the first colon, the name lower-cased, the value trimmed of spaces and tabs; a line without a
 * colon is skipped. */
static size_t header_cb(char *ptr, size_t size, size_t count, void *userdata)
{
    struct tpt_handle *h = userdata;
    size_t bytes = size * count;
    if (!(bytes >= 2 && ptr[bytes - 2] == '\r' && ptr[bytes - 1] == '\n'))
        return 0;
    if (h->got_all_headers) {
        h->res->headers.len = 0;
        h->got_status_line = 0;
        h->got_all_headers = 0;
    }
    if (bytes == 2) {
        h->got_all_headers = 1;
        return bytes;
    }
    if (!h->got_status_line) {
        h->got_status_line = 1;
        return bytes;
    }
    size_t line = bytes - 2;
    char *colon = memchr(ptr, ':', line);
    if (!colon)
        return bytes;
    size_t name_len = (size_t)(colon - ptr);
    char *name = malloc(name_len + 1);
    if (!name) {
        h->failed_alloc = 1;
        return 0;
    }
    for (size_t i = 0; i < name_len; i++) {
        char c = ptr[i];
        name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    const char *v = colon + 1;
    const char *end = ptr + line;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    int ok = put_field(&h->res->headers, name, name_len) && put_field(&h->res->headers, v, (size_t)(end - v));
    free(name);
    if (!ok) {
        h->failed_alloc = 1;
        return 0;
    }
    return bytes;
}

static size_t write_cb(char *ptr, size_t size, size_t count, void *userdata)
{
    struct tpt_handle *h = userdata;
    size_t bytes = size * count;
    if (!buf_put(&h->data, ptr, bytes)) {
        h->failed_alloc = 1;
        return 0;
    }
    return bytes;
}

/* TPT's mapping of a CURLcode to the status a script sees. */
static long tpt_status(CURLcode code)
{
    switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL: return 601;
    case CURLE_COULDNT_RESOLVE_HOST: return 602;
    case CURLE_OPERATION_TIMEDOUT: return 605;
    case CURLE_URL_MALFORMAT: return 606;
    case CURLE_COULDNT_CONNECT: return 607;
    case CURLE_COULDNT_RESOLVE_PROXY: return 608;
    case CURLE_TOO_MANY_REDIRECTS: return 611;
    case CURLE_SSL_CONNECT_ERROR: return 612;
    case CURLE_SSL_ENGINE_NOTFOUND: return 613;
    case CURLE_SSL_ENGINE_SETFAILED: return 614;
    case CURLE_SSL_CERTPROBLEM: return 615;
    case CURLE_SSL_CIPHER: return 616;
    case CURLE_SSL_ENGINE_INITFAILED: return 617;
    case CURLE_SSL_CACERT_BADFILE: return 618;
    case CURLE_SSL_CRL_BADFILE: return 619;
    case CURLE_SSL_ISSUER_ERROR: return 620;
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH: return 621;
    case CURLE_SSL_INVALIDCERTSTATUS: return 609;
    default: return 600;
    }
}

/*
 * One request. `verb` may be NULL (no custom verb). `headers` holds `nheaders` pairs (name,
 * value), NUL-terminated, joined as TPT joins them ("name: value"). `post` is 0 for a GET, 1
 * for a post with `post_data` (a post with no data is CURLOPT_POST with empty fields, as TPT's
 * isPost branch). `nparts` form items make it a form post (curl_mime), as TPT's FormData.
 * Returns 0, or -1 if the handles could not be set up at all.
 */
int tpt_ref_request(const char *url, const char *verb, const char *const *headers, size_t nheaders,
                    int post, const char *post_data, size_t post_len, const struct tpt_form_part *parts,
                    size_t nparts, const char *user_agent, struct tpt_ref_result *res)
{
    static int global_init = 0;
    if (!global_init) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        global_init = 1;
    }
    memset(res, 0, sizeof *res);
    struct tpt_handle h;
    memset(&h, 0, sizeof h);
    h.res = res;

    CURLM *multi = curl_multi_init();
    if (!multi)
        return -1;
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, TPT_MAX_HOST_CONNECTIONS);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, TPT_MAX_CONCURRENT_STREAMS);
    CURL *easy = curl_easy_init();
    if (!easy) {
        curl_multi_cleanup(multi);
        return -1;
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < nheaders; i++) {
        const char *name = headers[2 * i], *value = headers[2 * i + 1];
        size_t n = strlen(name), v = strlen(value);
        char *line = malloc(n + 2 + v + 1);
        if (!line)
            return -1;
        memcpy(line, name, n);
        memcpy(line + n, ": ", 2);
        memcpy(line + n + 2, value, v + 1);
        list = curl_slist_append(list, line);
        free(line);
    }
    curl_mime *mime = NULL;
    if (post && nparts) {
        mime = curl_mime_init(easy);
        if (!mime)
            return -1;
        for (size_t i = 0; i < nparts; i++) {
            curl_mimepart *part = curl_mime_addpart(mime);
            if (!part)
                return -1;
            curl_mime_data(part, parts[i].value, parts[i].value_len);
            curl_mime_name(part, parts[i].name);
            if (parts[i].filename)
                curl_mime_filename(part, parts[i].filename);
            if (parts[i].type)
                curl_mime_type(part, parts[i].type);
        }
        curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime);
    } else if (post && post_len) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post_data);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len);
    } else if (post) {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    if (verb)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, verb);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    /* TPT allows "https,http" (outside ENFORCE_HTTPS builds); this build has no TLS, and libcurl
     * refuses a list naming a protocol it lacks, so the list is the part it has. */
    if (curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https,http") != CURLE_OK)
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
    if (curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "https,http") != CURLE_OK)
        curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http");
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, TPT_MAX_REDIRECTS);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, res->error);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, TPT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, user_agent);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, (void *)&h);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, (void *)&h);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    /* The harness's own bound, so a case that hangs fails instead of stopping the run. */
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 20L);
    curl_multi_add_handle(multi, easy);

    int done = 0;
    while (!done) {
        int dontcare;
        curl_multi_poll(multi, NULL, 0, 100, &dontcare);
        curl_multi_perform(multi, &dontcare);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(multi, &dontcare))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            done = 1;
            res->curl_code = (int)msg->data.result;
            if (msg->data.result == CURLE_OK) {
                long code = 0;
                curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
                res->status = code;
            } else {
                res->status = tpt_status(msg->data.result);
            }
        }
        /* As TPT's worker, after every perform (the last one included). */
        curl_off_t total = 0, got = 0;
        curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
        curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &got);
        res->total = (long long)total;
        res->done = (long long)got;
    }
    if (res->status < 600 && !h.failed_alloc) {
        res->body = h.data;
    } else {
        free(h.data.data);
    }
    curl_multi_remove_handle(multi, easy);
    curl_easy_cleanup(easy);
    curl_slist_free_all(list);
    curl_mime_free(mime);
    curl_multi_cleanup(multi);
    return 0;
}

void tpt_ref_free(struct tpt_ref_result *res)
{
    free(res->body.data);
    free(res->headers.data);
    memset(res, 0, sizeof *res);
}

/*
 * Read `base` as libcurl reads CURLOPT_URL (CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME), then,
 * unless `location` is NULL, resolve `location` against it as libcurl follows a redirect
 * (CURLU_URLENCODE | CURLU_ALLOW_SPACE), and read back the whole URL. Writes the result (NUL-terminated) to `out`; returns the
 * CURLUcode (0 on success).
 */
int tpt_ref_url(const char *base, const char *location, char *out, size_t out_len)
{
    CURLU *u = curl_url();
    if (!u)
        return -1;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, base, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
    if (!rc && location)
        rc = curl_url_set(u, CURLUPART_URL, location, CURLU_URLENCODE | CURLU_ALLOW_SPACE);
    char *got = NULL;
    if (!rc)
        rc = curl_url_get(u, CURLUPART_URL, &got, 0);
    if (!rc) {
        size_t n = strlen(got);
        if (n + 1 > out_len)
            n = out_len - 1;
        memcpy(out, got, n);
        out[n] = 0;
        curl_free(got);
    }
    curl_url_cleanup(u);
    return (int)rc;
}

const char *tpt_ref_version(void)
{
    return curl_version();
}
