/*
 * kwarden-tap: decode a kwarden msgpack stream (a producer's socket or
 * stdin) into one compact JSON object per line, for people and scripts.
 * Plain blocking I/O: one connection, one reader, no event loop.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "kwarden.h"

#define READ_CHUNK (64 * 1024)

/* A growable output buffer: one line is built here, then written. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

static void usage_to(FILE *fp);
static void usage(void) __attribute__((noreturn));
static void die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void buf_grow(struct buf *b, size_t more);
static void buf_add(struct buf *b, const void *p, size_t len);
static void buf_addc(struct buf *b, char c);
static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void json_str(struct buf *b, const char *s, size_t len);
static void json_base64(struct buf *b, const char *s, size_t len);
static void json_double(struct buf *b, double d, int single);
static void json_value(struct buf *b, const msgpack_object *o);
static void json_key(struct buf *b, const msgpack_object *k);
static int type_matches(const msgpack_object *o, const char *type);
static int connect_unix(const char *path);
static void send_sub(int fd, uint64_t epoch, uint64_t from);
static void write_line(const struct buf *b);
static const char *object_kind(const msgpack_object *o);

static const char *progname = "kwarden-tap";

static void
usage_to(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [--count N] [--type T] [--sub EPOCH:FROM] SOCKET|-\n"
	    "  Decode a kwarden msgpack stream to one JSON object per line.\n"
	    "  SOCKET     a producer's stream socket (reader.sock, "
	    "decider.sock)\n"
	    "  -          read the stream from stdin\n"
	    "  --count N  exit 0 after printing N messages\n"
	    "  --type T   print only messages whose \"t\" is T\n"
	    "  --sub E:N  after connecting, ask for replay from seq N of "
	    "epoch E\n",
	    progname);
}

static void
usage(void)
{
	usage_to(stderr);
	exit(2);
}

static void
die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void
buf_grow(struct buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		die(1, "out of memory");
	b->data = p;
	b->cap = cap;
}

static void
buf_add(struct buf *b, const void *p, size_t len)
{
	buf_grow(b, len);
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

static void
buf_addc(struct buf *b, char c)
{
	buf_grow(b, 1);
	b->data[b->len++] = c;
}

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(1, "vsnprintf failed");
	buf_grow(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A JSON string; each byte that is not part of valid UTF-8 -> U+FFFD. */
static void
json_str(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	buf_addc(b, '"');
	while (i < len) {
		if (p[i] >= 0x80) {
			if ((n = kw_utf8_len(p + i, len - i)) == 0) {
				buf_add(b, "\xef\xbf\xbd", 3);
				n = 1;
			} else
				buf_add(b, p + i, n);
			i += n;
			continue;
		}
		switch (p[i]) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		case '\b':
			buf_add(b, "\\b", 2);
			break;
		case '\f':
			buf_add(b, "\\f", 2);
			break;
		default:
			if (p[i] < 0x20)
				buf_printf(b, "\\u%04x", p[i]);
			else
				buf_addc(b, (char)p[i]);
			break;
		}
		i++;
	}
	buf_addc(b, '"');
}

/* Binary as a JSON string in standard base64 (RFC 4648, padded). */
static void
json_base64(struct buf *b, const char *s, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	uint32_t v;
	size_t i;

	buf_grow(b, 2 + (len + 2) / 3 * 4);
	buf_addc(b, '"');
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		buf_addc(b, tab[v >> 18 & 63]);
		buf_addc(b, tab[v >> 12 & 63]);
		buf_addc(b, tab[v >> 6 & 63]);
		buf_addc(b, tab[v & 63]);
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		buf_addc(b, tab[v >> 18 & 63]);
		buf_addc(b, tab[v >> 12 & 63]);
		buf_add(b, "==", 2);
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		buf_addc(b, tab[v >> 18 & 63]);
		buf_addc(b, tab[v >> 12 & 63]);
		buf_addc(b, tab[v >> 6 & 63]);
		buf_addc(b, '=');
	}
	buf_addc(b, '"');
}

/*
 * The shortest text that reads back as the same double (or float), always
 * a valid JSON number. NaN and infinities have no JSON form: null.
 */
static void
json_double(struct buf *b, double d, int single)
{
	char text[40];
	int prec;

	if (!isfinite(d)) {
		buf_add(b, "null", 4);
		return;
	}
	for (prec = single ? 6 : 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, d);
		if (single ? strtof(text, NULL) == (float)d :
			     strtod(text, NULL) == d)
			break;
	}
	buf_add(b, text, strlen(text));
	/* "1" would read back as an integer: keep floats floats. */
	if (strpbrk(text, ".eEn") == NULL)
		buf_add(b, ".0", 2);
}

static void
json_value(struct buf *b, const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		buf_add(b, "null", 4);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		if (o->via.boolean)
			buf_add(b, "true", 4);
		else
			buf_add(b, "false", 5);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		buf_printf(b, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		buf_printf(b, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
		json_double(b, o->via.f64, 1);
		break;
	case MSGPACK_OBJECT_FLOAT64:
		json_double(b, o->via.f64, 0);
		break;
	case MSGPACK_OBJECT_STR:
		json_str(b, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		json_base64(b, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		buf_printf(b, "{\"ext\":%d,\"data\":", (int)o->via.ext.type);
		json_base64(b, o->via.ext.ptr, o->via.ext.size);
		buf_addc(b, '}');
		break;
	case MSGPACK_OBJECT_ARRAY:
		buf_addc(b, '[');
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				buf_addc(b, ',');
			json_value(b, &o->via.array.ptr[i]);
		}
		buf_addc(b, ']');
		break;
	case MSGPACK_OBJECT_MAP:
		buf_addc(b, '{');
		for (i = 0; i < o->via.map.size; i++) {
			if (i > 0)
				buf_addc(b, ',');
			json_key(b, &o->via.map.ptr[i].key);
			buf_addc(b, ':');
			json_value(b, &o->via.map.ptr[i].val);
		}
		buf_addc(b, '}');
		break;
	default:
		buf_add(b, "null", 4);
		break;
	}
}

/* A map key: strings as they are, anything else as its JSON text. */
static void
json_key(struct buf *b, const msgpack_object *k)
{
	struct buf tmp = { NULL, 0, 0 };

	if (k->type == MSGPACK_OBJECT_STR) {
		json_str(b, k->via.str.ptr, k->via.str.size);
		return;
	}
	if (k->type == MSGPACK_OBJECT_BIN) {
		/* base64 text, without json_base64's quotes */
		json_base64(&tmp, k->via.bin.ptr, k->via.bin.size);
		json_str(b, tmp.data + 1, tmp.len - 2);
	} else {
		json_value(&tmp, k);
		json_str(b, tmp.data, tmp.len);
	}
	free(tmp.data);
}

static int
type_matches(const msgpack_object *o, const char *type)
{
	const msgpack_object_kv *kv;
	uint32_t i;

	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->key.via.str.size != 1 || kv->key.via.str.ptr[0] != 't')
			continue;
		return kv->val.type == MSGPACK_OBJECT_STR &&
		    kv->val.via.str.size == strlen(type) &&
		    memcmp(kv->val.via.str.ptr, type, kv->val.via.str.size) ==
		    0;
	}
	return 0;
}

static const char *
object_kind(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return "nil";
	case MSGPACK_OBJECT_BOOLEAN:
		return "a bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return "an integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return "a float";
	case MSGPACK_OBJECT_STR:
		return "a str";
	case MSGPACK_OBJECT_BIN:
		return "a bin";
	case MSGPACK_OBJECT_EXT:
		return "an ext";
	case MSGPACK_OBJECT_ARRAY:
		return "an array";
	default:
		return "a map";
	}
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		die(2, "%s: socket path too long", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(1, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(1, "%s: %s", path, strerror(errno));
	return fd;
}

static void
send_sub(int fd, uint64_t epoch, uint64_t from)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t off = 0;
	ssize_t n;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	kw_pack_sub(&pk, epoch, from, 0);
	while (off < sb.size) {
		n = send(fd, sb.data + off, sb.size - off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die(1, "sending sub: %s", strerror(errno));
		}
		off += (size_t)n;
	}
	msgpack_sbuffer_destroy(&sb);
}

/* One line to stdout; a reader that went away (head) ends us quietly. */
static void
write_line(const struct buf *b)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len) {
		n = write(STDOUT_FILENO, b->data + off, b->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				exit(0);
			die(1, "stdout: %s", strerror(errno));
		}
		off += (size_t)n;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "type", required_argument, NULL, 't' },
		{ "sub", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	msgpack_unpacker up;
	struct kw_mpscan scan;
	msgpack_unpacked res;
	struct buf line = { NULL, 0, 0 };
	const char *type = NULL, *src;
	char *end;
	uint64_t count = 0, printed = 0, nmsg = 0;
	uint64_t sub_epoch = 0, sub_from = 0;
	int ch, fd, do_sub = 0, ret;
	ssize_t n;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			count = strtoull(optarg, &end, 10);
			if (errno || *optarg == '\0' || *optarg == '-' ||
			    *end != '\0' || count == 0)
				die(2,
				    "--count: \"%s\" is not a positive "
				    "number",
				    optarg);
			break;
		case 't':
			type = optarg;
			break;
		case 's':
			errno = 0;
			sub_epoch = strtoull(optarg, &end, 10);
			if (errno || *optarg == '-' || end == optarg ||
			    *end != ':')
				die(2, "--sub: \"%s\" is not EPOCH:FROM",
				    optarg);
			src = end + 1;
			sub_from = strtoull(src, &end, 10);
			if (errno || *src == '-' || end == src || *end != '\0')
				die(2, "--sub: \"%s\" is not EPOCH:FROM",
				    optarg);
			do_sub = 1;
			break;
		case 'h':
			usage_to(stdout);
			exit(0);
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	src = argv[optind];

	/* A closed stdout shows up as EPIPE in write_line. */
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(src, "-") == 0) {
		if (do_sub)
			die(2, "--sub needs a socket, not stdin");
		fd = STDIN_FILENO;
	} else {
		fd = connect_unix(src);
		if (do_sub)
			send_sub(fd, sub_epoch, sub_from);
	}

	if (!msgpack_unpacker_init(&up, READ_CHUNK))
		die(1, "out of memory");
	kw_mpscan_init(&scan, KW_MSG_MAX, KW_MSG_COUNT_MAX);
	msgpack_unpacked_init(&res);
	for (;;) {
		if (!msgpack_unpacker_reserve_buffer(&up, READ_CHUNK))
			die(1, "out of memory");
		n = read(fd, msgpack_unpacker_buffer(&up),
		    msgpack_unpacker_buffer_capacity(&up));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die(1, "%s: read: %s", src, strerror(errno));
		}
		if (n == 0)
			break;
		msgpack_unpacker_buffer_consumed(&up, (size_t)n);
		while ((ret = kw_unpacker_next(&up, &scan, &res)) ==
		    MSGPACK_UNPACK_SUCCESS) {
			nmsg++;
			if (res.data.type != MSGPACK_OBJECT_MAP)
				die(1,
				    "%s: message %" PRIu64 " is %s, not "
				    "a map: not a kwarden stream",
				    src, nmsg, object_kind(&res.data));
			if (type != NULL && !type_matches(&res.data, type))
				continue;
			line.len = 0;
			json_value(&line, &res.data);
			buf_addc(&line, '\n');
			write_line(&line);
			if (count && ++printed == count)
				goto done;
		}
		if (ret == KW_UNPACK_REFUSED)
			die(1,
			    "%s: message %" PRIu64 " declares a string, "
			    "array or total size larger than a message may "
			    "be",
			    src, nmsg + 1);
		if (ret == MSGPACK_UNPACK_PARSE_ERROR)
			die(1, "%s: malformed msgpack in message %" PRIu64,
			    src, nmsg + 1);
		if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
			die(1,
			    "%s: message %" PRIu64 " nests too deep or "
			    "is too large for memory",
			    src, nmsg + 1);
		if (msgpack_unpacker_message_size(&up) > KW_MSG_MAX)
			die(1,
			    "%s: message %" PRIu64 " is larger than %u "
			    "bytes",
			    src, nmsg + 1, KW_MSG_MAX);
	}
	if (msgpack_unpacker_message_size(&up) > 0)
		die(1, "%s: truncated message %" PRIu64 " at end of input",
		    src, nmsg + 1);
done:
	msgpack_unpacked_destroy(&res);
	msgpack_unpacker_destroy(&up);
	free(line.data);
	if (fd != STDIN_FILENO)
		close(fd);
	return 0;
}
