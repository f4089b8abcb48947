// cmdbuild/ssh_master.hpp: one shared ssh connection (a ControlMaster) per far host for the
// ssh commands of durable remote runs (`--hold far`). Pure: names the socket and composes the
// argv; the supervisor (chaperone/supervisor/far_master.hpp) runs it.
#pragma once

#include "cmdbuild/command.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace chaperone::cmdbuild {

// How long (seconds) an automatic master stays after its last session has closed.
inline constexpr std::string_view k_master_persist = "60";
// The longest socket path handed to ssh: sun_path holds 108 bytes with the NUL, and ssh first
// binds a name 17 bytes longer (".XXXXXXXXXXXXXXXX") that it then links into place.
inline constexpr size_t k_max_master_path = 90;

// True when the target's ssh commands may go through an automatic master: mode ssh or
// ssh-then-sudo (ssh runs as us), and the user chose no ControlPath or ControlMaster of
// their own (--control-path, -o ControlPath=..., -o ControlMaster=...).
bool may_share_master(const Target& target);

// "cm-" and 16 hex digits (FNV-1a, 64 bits) of everything that makes the connection: ssh
// program, login, host, port, identity, ssh options, timeouts. Targets with the same name may
// share one master.
std::string master_socket_name(const Target& target);

// True for a path ssh takes as a ControlPath as is: absolute, at most k_max_master_path
// bytes, no '%' (ssh expands tokens), spaces or control characters.
bool usable_master_path(std::string_view path);

// `target` going through the master at `socket` when one answers there, else connecting on
// its own (ControlMaster=no): a missing master never fails a command.
Target via_master(Target target, const std::string& socket);

// Starts the master at `socket`: ssh with ControlMaster=yes, ControlPersist, SessionType=none
// and ForkAfterAuthentication=yes forks into the background once authenticated, so the
// command exits 0 when the master is up and 255 when ssh could not connect. Throws
// std::invalid_argument like build_ssh_destination.
std::vector<std::string> master_start_command(Target target, const std::string& socket);

} // namespace chaperone::cmdbuild
