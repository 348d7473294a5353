#!/bin/bash
# The VM test's webhook receiver, one request on stdin (socat): headers to
# the blank line, then Content-Length bytes of body, kept in
# /tmp/kwcheck-webhook.json; answers 204.
len=0
while IFS= read -r line; do
	line=${line%$'\r'}
	[ -z "$line" ] && break
	case ${line,,} in
	content-length:*) len=${line#*:}; len=${len// /} ;;
	esac
done
head -c "$len" >/tmp/kwcheck-webhook.json.tmp &&
	mv /tmp/kwcheck-webhook.json.tmp /tmp/kwcheck-webhook.json
printf 'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'
