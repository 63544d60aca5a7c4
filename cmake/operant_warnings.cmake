# Warnings as errors on operant's own code only (never on dependencies' headers, which are
# included as SYSTEM by their imported targets).
function(operant_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough -Werror)
endfunction()
