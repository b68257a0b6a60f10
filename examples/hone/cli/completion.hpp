// Shell completions of the `hone` program, generated from its CLI11 description so that every
// command and option is in them: `hone --completion bash` / `hone --completion zsh` print the
// script, which the build writes and `cmake --install` installs (examples/hone/CMakeLists.txt).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace hone_app {

/// The completion script of `app` for `shell` ("bash" or "zsh"); empty for another shell.
std::string completion_script(CLI::App& app, std::string_view shell);

}  // namespace hone_app
