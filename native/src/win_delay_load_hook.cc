// Windows only (scripts/cross/build-win32.sh links it): the addon imports N-API from "node.exe", delay-loaded. This
// hook answers that import with the executable that loaded the addon, so that it works under node.exe and under any
// host that exports N-API itself under another name: Electron's Code.exe (VS Code), as node-gyp's
// win_delay_load_hook does for MSVC builds.
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <delayimp.h>
#include <string.h>

static FARPROC WINAPI gptlab_load_exe_hook(unsigned int event, DelayLoadInfo* info) {
  if (event != dliNotePreLoadLibrary) return nullptr;
  if (_stricmp(info->szDll, "node.exe") != 0) return nullptr;
  return reinterpret_cast<FARPROC>(GetModuleHandleW(nullptr));
}

extern "C" {
PfnDliHook __pfnDliNotifyHook2 = gptlab_load_exe_hook;
}
#endif
