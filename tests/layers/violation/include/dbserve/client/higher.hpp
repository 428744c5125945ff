// A client header, included from the protocol layer by lower.hpp.
#pragma once
