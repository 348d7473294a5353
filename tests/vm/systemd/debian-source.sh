# shellcheck shell=sh
# debian-source.sh - sourced by tests/vm scripts: the archive this machine
# already uses, read from its own apt sources, so that no package host is
# ever written into the repository.
#   debian_uri SUITE   the URI of the first `deb` entry carrying SUITE
#                      (deb822 /etc/apt/sources.list.d/*.sources first, then
#                      one-line /etc/apt/sources.list and sources.list.d/*.list)
# Prints nothing and returns 1 when no entry carries SUITE.
# KW_APT_SOURCES (a space-separated list of files) replaces the default files.

debian_uri() {
	_ds_suite=$1
	_ds_files=${KW_APT_SOURCES:-}
	if [ -z "$_ds_files" ]; then
		for _ds_f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
		    /etc/apt/sources.list.d/*.list; do
			[ -f "$_ds_f" ] && _ds_files="$_ds_files $_ds_f"
		done
	fi
	for _ds_f in $_ds_files; do
		[ -f "$_ds_f" ] || continue
		case $_ds_f in
		*.sources) _ds_uri=$(_debian_uri_deb822 "$_ds_suite" <"$_ds_f") ;;
		*) _ds_uri=$(_debian_uri_oneline "$_ds_suite" <"$_ds_f") ;;
		esac
		if [ -n "$_ds_uri" ]; then
			echo "${_ds_uri%/}"
			return 0
		fi
	done
	return 1
}

# deb822: stanzas separated by blank lines; Types, URIs, Suites, Enabled.
_debian_uri_deb822() {
	awk -v want="$1" '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && enabled != "no" &&
			    (" " suites " ") ~ (" " want " ") && uri != "" && !done) {
				print uri
				done = 1
			}
			types = ""; suites = ""; uri = ""; enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		{
			line = $0
			key = tolower(line); sub(/:.*/, "", key)
			val = line; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "suites") suites = val
			else if (key == "enabled") enabled = tolower(val)
			else if (key == "uris") { split(val, u, /[ \t]+/); uri = u[1] }
		}
		END { flush() }
	'
}

# one-line: deb [options] URI SUITE COMPONENT...
_debian_uri_oneline() {
	awk -v want="$1" '
		$1 != "deb" { next }
		{
			i = 2
			if ($i ~ /^\[/) {
				while (i <= NF && $i !~ /\]$/) i++
				i++
			}
			if ($(i + 1) == want) { print $i; exit }
		}
	'
}
