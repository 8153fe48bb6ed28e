// The Chakra UI components the view uses: the only module that imports @chakra-ui/react. In the Airflow build it
// resolves to Airflow's own Chakra (globalThis.ChakraUI, see src/host/); the standalone build bundles exactly these
// (src/standalone.jsx exposes this module as globalThis.ChakraUI), so both builds offer the same names.
export {
  Alert, Badge, Box, Button, Card, CloseButton, Code, EmptyState, Flex, HStack, Heading, Input, Link, List, Span,
  Spinner, Stack, Table, Text,
} from "@chakra-ui/react";
