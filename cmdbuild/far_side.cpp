// cmdbuild/far_side.cpp: the fixed far-side scripts. None of them is ever quoted or edited
// per run: every run-specific byte reaches them as an argv element.
#include "cmdbuild/far_side.hpp"

#include <algorithm>

namespace chaperone::cmdbuild {

// `cd -P` and an empty CDPATH make cd a plain chdir(2) (no CDPATH search, no echo of the
// directory, no logical `..`); a leading "-" would read as an option or as OLDPWD, hence
// "./". The reasons mirror strerror: sh's own cd message is not stable across shells.
// Env entries end at "--" (entries all hold '='), so no counter variable can be clobbered by
// a user variable of the same name.
const std::string_view k_exec_wrapper_sh = R"sh(n=$1 u=$2 d=$3
shift 3
if [ -n "$u" ]; then umask "$u" || exit 125; fi
if [ -n "$d" ]; then
  case $d in -*) d=./$d ;; esac
  if ! CDPATH= cd -P -- "$d" 2>/dev/null; then
    if [ ! -e "$d" ]; then r='No such file or directory'
    elif [ ! -d "$d" ]; then r='Not a directory'
    else r='Permission denied'; fi
    if [ -n "$n" ]; then
      printf '\nchaperone-marker %s cwd %s\n' "$n" "$r" >&2
    else
      printf 'chaperone: cd %s: %s\n' "$d" "$r" >&2
    fi
    exit 125
  fi
fi
while [ "$1" != -- ]; do export "$1" || exit 125; shift; done
shift
exec "$@")sh";

// Why perl: a shell's `wait` folds "killed by signal N" into 128+N, the same value as the
// program's own `exit 128+N`; only waitpid(2)'s raw status tells them apart, and perl is the
// one interpreter with waitpid that Debian and most Linux systems always have (perl-base is
// Essential). Core perl only (no modules), so a minimal perl suffices.
// The child waits on a pipe for a go byte until the parent has set its group and written the
// "pid" marker, so the pid is known before the program runs and a group kill can never miss it.
// EOF instead of the byte means the parent died first (SIGPIPE on a lost connection): a
// program nobody reported must not run. Each marker is one syswrite: atomic on a pipe, so it
// cannot be torn by the program's writes.
const std::string_view k_remote_wrapper_pl = R"pl(
delete $ENV{PERL_BADLANG};
my ($n, $u, $d) = splice @ARGV, 0, 3;
sub report { syswrite STDERR, "\nchaperone-marker $n $_[0]\n" }
umask oct $u if length $u;
if (length $d) {
  unless (chdir $d) { report("cwd $!"); exit 125 }
  $ENV{PWD} = $d if substr($d, 0, 1) eq "/";
}
while (@ARGV && $ARGV[0] ne "--") {
  my ($k, $v) = split /=/, shift(@ARGV), 2;
  $ENV{$k} = $v;
}
shift @ARGV;
my ($r, $w);
unless (pipe $r, $w) { report("error pipe: $!"); exit 125 }
my $pid = fork;
unless (defined $pid) { report("error fork: $!"); exit 125 }
if ($pid == 0) {
  close $w;
  setpgrp 0, 0;
  sysread($r, my $byte, 1) == 1 or exit 125;
  close $r;
  exec { $ARGV[0] } @ARGV;
  my $e = $! + 0;
  report("exec $!");
  exit($e == 2 ? 127 : 126);
}
close $r;
setpgrp $pid, $pid;
for my $s (qw(TERM INT HUP QUIT)) { $SIG{$s} = sub { kill $s, -$pid } }
report("pid $pid $pid");
syswrite $w, "x";
close $w;
while (1) {
  my $got = waitpid $pid, 0;
  last if $got == $pid;
  if ($got == -1 && $! != 4) { report("error waitpid: $!"); exit 125 }
}
my $st = $?;
if ($st & 127) {
  report("signal " . ($st & 127) . ($st & 128 ? " core" : ""));
  exit 128 + ($st & 127);
}
report("exit " . ($st >> 8));
exit($st >> 8);
)pl";

// /proc/PGID/stat's 4th field is the parent; the comm in parentheses may hold ") ", hence
// the greedy match up to the last ")". The wrapper carries the nonce as an argument of its
// own (the exec form) or inside the hex word it decoded (k_remote_eval_pl): both count.
const std::string_view k_remote_kill_pl = R"pl(
my ($n, $g, $s) = @ARGV;
if (length $n) {
  open my $f, "<", "/proc/$g/stat" or exit 2;
  my $st = do { local $/; <$f> };
  $st =~ /.*\) \S+ (\d+)/s or exit 2;
  open my $c, "<", "/proc/$1/cmdline" or exit 2;
  my $cl = do { local $/; <$c> };
  my $ok = index($cl, "\0$n\0") >= 0;
  for my $w (split /\0/, $cl) {
    $ok ||= $w =~ /\A(?:[0-9a-f]{2})+\z/ && index("\0" . pack("H*", $w) . "\0", "\0$n\0") >= 0;
  }
  $ok or exit 2;
}
kill($s, -$g) or do { print STDERR "chaperone: kill -$s -$g: $!\n"; exit 1 };
exit 0;
)pl";

// chr(0) and chr(10) stand for "\0" and "\n": a backslash is special inside fish's single
// quotes; $^E is $! (a `!` could trigger csh history expansion). `split` with limit -1 keeps empty
// trailing elements; leading ones are always kept.
const std::string_view k_remote_stub_pl = "@a=split chr(0),pack(q(H*),shift),-1;exec{$a[0]}@a;"
                                          "die q(chaperone: exec ).$a[0].q(: ).$^E.chr(10)";

// The same decoding, but the first element is perl code run in this very perl with the rest
// as @ARGV: a far argv that is itself `env PERL_BADLANG=0 perl -e SCRIPT ARGS...` then costs
// one exec of env and perl instead of two (the wrapper's start is most of a remote run's far
// side). Every script it runs ends with exit or exec; `die $@` reports one that fails to
// compile, with perl's own exit code 255 as `perl -e` would.
const std::string_view k_remote_eval_pl =
    "@ARGV=split chr(0),pack(q(H*),shift),-1;$_=shift @ARGV;eval;die $@ if $@;exit";

const std::vector<std::string> k_far_side_perl{"env", "PERL_BADLANG=0", "perl", "-e"};

std::string remote_command_line(const std::vector<std::string>& argv, PerlStart start) {
  static constexpr char k_hex[] = "0123456789abcdef";
  bool fused = argv.size() > k_far_side_perl.size()
               && std::equal(k_far_side_perl.begin(), k_far_side_perl.end(), argv.begin());
  std::string line =
      start == PerlStart::quiet ? "exec env PERL_BADLANG=0 perl -e '" : "exec perl -e '";
  line.append(fused ? k_remote_eval_pl : k_remote_stub_pl).append("' ");
  bool first = true;
  for (std::size_t i = fused ? k_far_side_perl.size() : 0; i < argv.size(); ++i) {
    if (!first) {
      line.append("00");
    }
    first = false;
    for (unsigned char c : argv[i]) {
      line.push_back(k_hex[c >> 4]);
      line.push_back(k_hex[c & 15]);
    }
  }
  return line;
}

} // namespace chaperone::cmdbuild
