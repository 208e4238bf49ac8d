# Turns agent.sh into a C array (cmake -DIN=agent.sh -DOUT=agent_script.c -P embed.cmake),
# so the driver sends the script it was built with.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${hex}")
file(WRITE ${OUT} "/* generated from agent.sh by embed.cmake */\n#include <stddef.h>\nconst char ssh_agent_script[] = { ${arr} 0 };\nconst size_t ssh_agent_script_len = sizeof(ssh_agent_script) - 1;\n")
