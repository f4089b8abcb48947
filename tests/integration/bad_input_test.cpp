// tests/integration/bad_input_test.cpp: every refusal exits 125 with one line on stderr that
// names the problem, and leaves the spool as it was (nothing created half-way).
#include "tests/integration/common.hpp"

#include <unistd.h>

using namespace chaperone::test;

namespace {

// Runs `args`, checks 125, one "chaperone: ..." line containing `needle`, no stdout, and an
// unchanged spool listing.
void check_refused(const TempSpool& spool,
                   const std::vector<std::string>& args,
                   const std::string& needle,
                   const RunOptions& options = {}) {
  std::vector<std::string> before = spool.listing();
  RunResult r = run_chaperone(spool, args, options);
  std::string shown;
  for (const std::string& arg : args) {
    shown += " [" + arg + "]";
  }
  INFO("chaperone" << shown << "\nstderr: " << r.err);
  CHECK(r.exit_code == 125);
  CHECK(r.out.empty());
  std::vector<std::string> lines = r.err_lines();
  CHECK(lines.size() == 1);
  CHECK(r.err.rfind("chaperone: ", 0) == 0);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(spool.listing() == before);
}

} // namespace

TEST_CASE("an unknown option is refused with 125 and one line", "[integration][bad-input]") {
  TempSpool spool;
  check_refused(spool, {"run", "--no-such-option", "--", "true"}, "--no-such-option");
  check_refused(spool, {"attach", "--from-offset", "x", "id"}, "from-offset");
  check_refused(spool, {"tail", "--stream", "stdin", "id"}, "stdin");
}

TEST_CASE("an unknown command or top-level option is refused with 125 and one line naming it",
          "[integration][bad-input]") {
  // The word that was not understood is named (CLI11 alone says "A subcommand is required").
  TempSpool spool;
  check_refused(spool, {"no-such-command"}, "no-such-command");
  check_refused(spool, {"--no-such-option"}, "--no-such-option");
}

TEST_CASE("a run without a program is refused with 125 and one line", "[integration][bad-input]") {
  TempSpool spool;
  check_refused(spool, {"run"}, "program");
  check_refused(spool, {"run", "--"}, "program");
  check_refused(spool, {"run", "--name", "x", "--"}, "program");
  CHECK(spool.listing().empty());
}

TEST_CASE("bad --name values are refused with 125, naming the problem",
          "[integration][bad-input]") {
  auto [name, needle] = GENERATE(table<std::string, std::string>({
      {"", "empty"},
      {"a/b", "'/'"},
      {"..", "'.'"},
      {".hidden", "'.'"},
      {"-dash", "'-'"},
      {std::string(129, 'x'), "128"},
      {"a b", "0x20"},
      {"tab\there", "0x09"},
      {"caf\xc3\xa9", "0xc3"},
      {"semi;colon", "';'"},
  }));
  TempSpool spool;
  check_refused(spool, {"run", "--name", name, "--", "true"}, needle);
  CHECK(spool.listing().empty());
}

TEST_CASE("an empty --name is refused rather than taken for no name",
          "[integration][bad-input][regression]") {
  // `--name ""` used to start a run under a generated id.
  TempSpool spool;
  check_refused(spool, {"run", "--name", "", "--", "true"}, "empty");
  check_refused(spool, {"run", "-d", "--name", "", "--", "true"}, "empty");
  CHECK(spool.listing().empty());
}

TEST_CASE("a --name that is 128 bytes long is accepted", "[integration][bad-input]") {
  TempSpool spool;
  std::string name(128, 'n');
  CHECK(run_chaperone(spool, {"run", "--name", name, "--", "true"}).exit_code == 0);
  CHECK(spool.run_ids() == std::vector<std::string>{name});
}

TEST_CASE("a duplicate --name is refused and leaves the first run untouched",
          "[integration][bad-input]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "twice", "--", "sh", "-c", "echo first"}).exit_code
          == 0);
  nlohmann::json state_before = spool.state("twice");
  check_refused(spool, {"run", "--name", "twice", "--", "sh", "-c", "echo second"}, "twice");
  check_refused(spool, {"run", "-d", "--name", "twice", "--", "true"}, "already exists");
  CHECK(spool.output("twice", "stdout") == "first\n");
  CHECK(spool.state("twice") == state_before);
}

TEST_CASE("an unknown run id is refused by every command that takes one",
          "[integration][bad-input]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "exists", "--", "true"}).exit_code == 0);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"attach", "nosuch"},
           {"tail", "nosuch"},
           {"tail", "-f", "nosuch"},
           {"wait", "nosuch"},
           {"wait", "exists", "nosuch"},
           {"status", "nosuch"},
           {"kill", "nosuch"},
       }) {
    check_refused(spool, args, "nosuch");
  }
  // `status --json nosuch`: the same refusal as one JSON object (issue 14), checked in
  // cli_json_test.cpp ("errors under --json are one JSON object with a stable kind").
  // Ids that could escape the root are refused before any lookup.
  check_refused(spool, {"status", "../spool"}, "../spool");
  check_refused(spool, {"attach", "/etc"}, "/etc");
}

TEST_CASE("an unknown run id in a spool that does not exist yet is refused",
          "[integration][bad-input]") {
  TempSpool spool;
  RunOptions options;
  options.spool_value = (spool.scratch() / "never-made").string();
  check_refused(spool, {"status", "nosuch"}, "nosuch", options);
  CHECK_FALSE(std::filesystem::exists(spool.scratch() / "never-made"));
}

TEST_CASE("an ambiguous id prefix is refused, listing the candidates", "[integration][bad-input]") {
  TempSpool spool;
  REQUIRE(run_chaperone(spool, {"run", "--name", "job-1", "--", "true"}).exit_code == 0);
  REQUIRE(run_chaperone(spool, {"run", "--name", "job-2", "--", "true"}).exit_code == 0);
  for (const char* command : {"status", "attach", "wait", "tail", "kill"}) {
    std::vector<std::string> before = spool.listing();
    RunResult r = run_chaperone(spool, {command, "job"});
    INFO(command << " stderr: " << r.err);
    CHECK(r.exit_code == 125);
    CHECK(r.err_lines().size() == 1);
    CHECK(r.err.find("ambiguous") != std::string::npos);
    CHECK(r.err.find("job-1") != std::string::npos);
    CHECK(r.err.find("job-2") != std::string::npos);
    CHECK(spool.listing() == before);
  }
  // An exact id is never ambiguous, even when it prefixes another.
  REQUIRE(run_chaperone(spool, {"run", "--name", "job", "--", "sh", "-c", "exit 4"}).exit_code
          == 4);
  CHECK(run_chaperone(spool, {"wait", "job"}).exit_code == 4);
}

TEST_CASE("bad values for run options are refused before anything is created",
          "[integration][bad-input]") {
  TempSpool spool;
  check_refused(
      spool, {"run", "--cwd", (spool.scratch() / "missing").string(), "--", "true"}, "missing");
  check_refused(spool,
                {"run", "--stdin", (spool.scratch() / "missing-input").string(), "--", "cat"},
                "missing-input");
  check_refused(spool, {"run", "--timeout", "soon", "--", "true"}, "soon");
  check_refused(spool, {"run", "--timeout", "0", "--", "true"}, "timeout");
  check_refused(spool, {"run", "--kill-after", "-1s", "--", "true"}, "kill-after");
  check_refused(spool, {"run", "--env", "NOEQUALS", "--", "true"}, "NOEQUALS");
  check_refused(spool, {"run", "--env", "=value", "--", "true"}, "=value");
  CHECK(spool.listing().empty());
  REQUIRE(run_chaperone(spool, {"run", "--name", "x", "--", "true"}).exit_code == 0);
  check_refused(spool, {"kill", "-s", "NOSUCHSIG", "x"}, "NOSUCHSIG");
}

TEST_CASE("an unusable spool root is refused with 125 and one line naming it",
          "[integration][bad-input]") {
  TempSpool spool;
  std::filesystem::path file = spool.scratch() / "a-file";
  write_whole_file(file, "not a directory\n");
  std::filesystem::path group_writable = spool.scratch() / "group-writable";
  std::filesystem::create_directory(group_writable);
  std::filesystem::permissions(group_writable, std::filesystem::perms(0770));
  std::filesystem::path link = spool.scratch() / "link";
  std::filesystem::create_directory_symlink(spool.root(), link);

  auto [root, needle] = GENERATE_COPY(table<std::string, std::string>({
      {"/a-file/spool", "a-file/spool"}, // a regular file in the way: even root cannot mkdir there
      {"/a-file", "a-file"},             // the root itself is a file
      {"/group-writable", "writable"},
      {"/link", "symlink"},
  }));
  (void)file;
  RunOptions options;
  options.spool_value = spool.scratch().string() + root;
  std::vector<std::string> scratch_before;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(spool.scratch())) {
    scratch_before.push_back(entry.path().string());
  }
  check_refused(spool, {"run", "--", "true"}, needle, options);
  check_refused(spool, {"run", "-d", "--name", "x", "--", "true"}, needle, options);
  std::vector<std::string> scratch_after;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(spool.scratch())) {
    scratch_after.push_back(entry.path().string());
  }
  CHECK(scratch_after == scratch_before);
}

TEST_CASE("a relative CHAPERONE_SPOOL is refused", "[integration][bad-input]") {
  TempSpool spool;
  RunOptions options;
  options.spool_value = "relative/spool";
  check_refused(spool, {"run", "--", "true"}, "relative/spool", options);
}

TEST_CASE("a spool root on a read-only file system is refused with 125 and one line",
          "[integration][bad-input]") {
  // Root ignores permission bits, so a read-only mount is the honest test; it needs a private
  // mount namespace (unshare -m), which some CI sandboxes do not grant.
  // Skipped (as CTest counts it) where that is not granted; never a silent pass.
  if (std::system("unshare -m true > /dev/null 2>&1") != 0) {
    skip_test("unshare -m is not available here (needs root or user namespaces)");
  }
  bool existing_root = GENERATE(true, false);
  TempSpool spool;
  std::filesystem::path mount_point = spool.scratch() / "ro";
  std::filesystem::create_directory(mount_point);
  std::filesystem::permissions(mount_point, std::filesystem::perms(0700));
  RunOptions options;
  // An empty tmpfs mounted read-only over mount_point, for this one command only.
  options.wrapper = {"unshare",
                     "-m",
                     "--",
                     "sh",
                     "-c",
                     "mount -t tmpfs -o ro,mode=0700 chaperone-test-ro \"$0\" && exec \"$@\"",
                     mount_point.string()};
  options.spool_value = existing_root ? mount_point.string() : (mount_point / "sub").string();
  check_refused(spool, {"run", "--", "true"}, "Read-only file system", options);
  CHECK(std::filesystem::is_empty(mount_point));
}
