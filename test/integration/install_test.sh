#!/usr/bin/env bash
# make install into a scratch prefix, then build the README's C example (server
# and client) against it three ways: pkg-config with the shared library, the
# static library, and find_package(tou) from CMake. Runs them on loopback.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -1)
export PKG_CONFIG_PATH=$libdir/pkgconfig

# The examples, exactly as the README shows them.
for f in server.c client.c; do
  awk -v tag="<!-- tou-example $f -->" '
    $0 == tag { want = 1; next }
    want && /^```c$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }' "$src/README.md" > "$work/$f"
  [ -s "$work/$f" ] || { echo "README has no example $f"; exit 1; }
done

cd "$work"
cc server.c $(pkg-config --cflags --libs tou) -o server
cc client.c $(pkg-config --cflags --libs tou) -o client
cc client.c $(pkg-config --cflags tou) "$libdir/libtou.a" $(pkg-config --static --libs-only-l tou | sed 's/-ltou//') \
  -lstdc++ -lm -o client_static

mkdir cm && cat > cm/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C CXX)
find_package(tou REQUIRED)
add_executable(client_cmake ../client.c)
target_link_libraries(client_cmake PRIVATE tou::tou)
add_executable(client_cmake_static ../client.c)
target_link_libraries(client_cmake_static PRIVATE tou::tou_static)
CM
cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build cm/build >/dev/null

export LD_LIBRARY_PATH=$libdir
port=$((20000 + RANDOM % 20000))
./server "$port" &
for client in ./client ./client_static ./cm/build/client_cmake ./cm/build/client_cmake_static; do
  out=""
  for attempt in $(seq 1 50); do  # the server may still be starting
    if out=$($client "$port" 2>/dev/null); then break; fi
    sleep 0.1
  done
  if [ "$out" != "hello over tou" ]; then
    echo "$client printed '$out'"
    exit 1
  fi
done
echo "install test: 4 clients built and echoed through the installed library"
