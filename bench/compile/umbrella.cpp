// The umbrella header and nothing else (measured with -fsyntax-only).
#include <dbserve/dbserve.hpp>

int main() { return 0; }
