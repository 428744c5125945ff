/* The floor for the transport benchmark: plain C on libcurl with the options the curl
 * adapter sets, and nothing else (no request or response objects, no header parsing).
 *
 *   bench_transport_floor MODE URL CA_FILE RESOLVE REQUESTS
 *     MODE     easy (sequential, one reused easy handle) or multi64 (64 in flight)
 *     RESOLVE  host:port:address, as curl's --resolve
 * Prints "<floor-easy|floor-multi64> <requests per second> <CPU microseconds per request>".
 */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char body[] = "{\"inputs\":[[1.0,2.0,3.0]]}";

struct buffer {
    char* data;
    size_t size;
    size_t capacity;
};

static size_t on_write(char* data, size_t size, size_t count, void* user) {
    struct buffer* b = (struct buffer*)user;
    size_t total = size * count;
    if (b->size + total > b->capacity) {
        size_t capacity = (b->size + total) * 2;
        char* grown = (char*)realloc(b->data, capacity);
        if (!grown) return 0;
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, data, total);
    b->size += total;
    return total;
}

static size_t on_header(char* data, size_t size, size_t count, void* user) {
    (void)data;
    (void)user;
    return size * count;
}

/* CPU time of this process (user + system), which load on the machine barely changes. */
static double cpu_seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void configure(CURL* easy, const char* url, const char* ca_file, struct curl_slist* resolve,
                      struct curl_slist* headers, struct buffer* response) {
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "dbserve/0.1");
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 300000L);
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(64 * 1024 * 1024));
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(sizeof body - 1));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
}

static int check(CURL* easy, CURLcode code) {
    long status = 0;
    if (code != CURLE_OK) {
        fprintf(stderr, "floor: %s\n", curl_easy_strerror(code));
        return 0;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fprintf(stderr, "floor: HTTP %ld\n", status);
        return 0;
    }
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s easy|multi64 URL CA_FILE host:port:address REQUESTS\n", argv[0]);
        return 2;
    }
    const char* mode = argv[1];
    const char* url = argv[2];
    const char* ca_file = argv[3];
    const long requests = atol(argv[5]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist* resolve = curl_slist_append(NULL, argv[4]);
    struct curl_slist* headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Authorization: Bearer bench-token");
    headers = curl_slist_append(headers, "Expect:");

    if (strcmp(mode, "easy") == 0) {
        struct buffer response = {NULL, 0, 0};
        CURL* easy = curl_easy_init();
        for (long i = 0; i < 50; ++i) { /* warm-up: connection and TLS session */
            response.size = 0;
            configure(easy, url, ca_file, resolve, headers, &response);
            if (!check(easy, curl_easy_perform(easy))) return 1;
        }
        const double start = now_seconds();
        const double cpu_start = cpu_seconds();
        for (long i = 0; i < requests; ++i) {
            response.size = 0;
            curl_easy_reset(easy);
            configure(easy, url, ca_file, resolve, headers, &response);
            if (!check(easy, curl_easy_perform(easy))) return 1;
        }
        const double elapsed = now_seconds() - start;
        printf("floor-easy %.0f %.1f\n", (double)requests / elapsed, (cpu_seconds() - cpu_start) * 1e6 / (double)requests);
        curl_easy_cleanup(easy);
        free(response.data);
    } else {
        enum { in_flight = 64 };
        CURLM* multi = curl_multi_init();
        curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)in_flight);
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)in_flight * 2);
        curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        CURL* easies[in_flight];
        struct buffer responses[in_flight];
        long started = 0, done = 0;
        double start = 0, cpu_start = 0;
        const long total = requests + in_flight; /* the first wave warms up */
        for (int i = 0; i < in_flight; ++i) {
            responses[i].data = NULL;
            responses[i].size = responses[i].capacity = 0;
            easies[i] = curl_easy_init();
            configure(easies[i], url, ca_file, resolve, headers, &responses[i]);
            curl_easy_setopt(easies[i], CURLOPT_PRIVATE, (void*)&responses[i]);
            curl_multi_add_handle(multi, easies[i]);
            ++started;
        }
        while (done < total) {
            int running = 0, left = 0;
            curl_multi_perform(multi, &running);
            CURLMsg* m;
            while ((m = curl_multi_info_read(multi, &left))) {
                if (m->msg != CURLMSG_DONE) continue;
                CURL* easy = m->easy_handle;
                if (!check(easy, m->data.result)) return 1;
                curl_multi_remove_handle(multi, easy);
                if (++done == in_flight) {
                    start = now_seconds();
                    cpu_start = cpu_seconds();
                }
                if (started < total) {
                    struct buffer* r;
                    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char**)&r);
                    r->size = 0;
                    curl_easy_reset(easy);
                    configure(easy, url, ca_file, resolve, headers, r);
                    curl_easy_setopt(easy, CURLOPT_PRIVATE, (void*)r);
                    curl_multi_add_handle(multi, easy);
                    ++started;
                }
            }
            if (done < total) curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
        const double elapsed = now_seconds() - start;
        printf("floor-multi64 %.0f %.1f\n", (double)requests / elapsed, (cpu_seconds() - cpu_start) * 1e6 / (double)requests);
        for (int i = 0; i < in_flight; ++i) {
            curl_easy_cleanup(easies[i]);
            free(responses[i].data);
        }
        curl_multi_cleanup(multi);
    }
    curl_slist_free_all(resolve);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return 0;
}
